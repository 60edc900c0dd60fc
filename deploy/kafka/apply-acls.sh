#!/bin/bash
# Applies the ACLs `alstream acl` rendered (compose service acl-render wrote /acl/acls.sh) with the
# admin's credentials; kafka-acls --add is idempotent, so every start applies the whole matrix again.
set -euo pipefail
mkdir -p /tmp/bin
ln -sf /opt/kafka/bin/kafka-acls.sh /tmp/bin/kafka-acls
export PATH="/tmp/bin:$PATH"
bash -euo pipefail /acl/acls.sh
echo "acl-apply: $(grep -c '^kafka-acls' /acl/acls.sh) ACLs applied"
