#!/bin/bash
# Starts Apache Kafka (KRaft, one node) with only authenticated, encrypted listeners:
#   INTERNAL  :9092  SASL_SSL (SCRAM-SHA-512)  the agents inside compose, and the broker itself
#   EXTERNAL  :9094  SASL_SSL (SCRAM-SHA-512)  published as localhost:29092 for tools outside compose
#   CONTROLLER:9093  SSL with client certificates, never published (KRaft's own quorum)
# The StandardAuthorizer denies whatever no ACL allows; the ACLs come from `alstream acl` (compose
# services acl-render and acl-apply). SCRAM users are created when the storage is formatted, from the
# PASSWORD_* variables (deploy/.env): one principal per alstream role and annotation tool.
set -euo pipefail
: "${KAFKA_TLS_PASSWORD:?set KAFKA_TLS_PASSWORD}" "${PASSWORD_ADMIN:?set PASSWORD_ADMIN}"
props=/var/lib/kafka/data/server.properties
tls=/etc/kafka/tls
cat > "$props" <<PROPS
node.id=1
process.roles=broker,controller
controller.quorum.voters=1@kafka:9093
listeners=INTERNAL://:9092,CONTROLLER://:9093,EXTERNAL://:9094
advertised.listeners=INTERNAL://kafka:9092,EXTERNAL://localhost:29092
listener.security.protocol.map=INTERNAL:SASL_SSL,EXTERNAL:SASL_SSL,CONTROLLER:SSL
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${PASSWORD_ADMIN}";
listener.name.controller.ssl.client.auth=required
ssl.keystore.location=${tls}/broker.p12
ssl.keystore.type=PKCS12
ssl.keystore.password=${KAFKA_TLS_PASSWORD}
ssl.key.password=${KAFKA_TLS_PASSWORD}
ssl.truststore.location=${tls}/truststore.p12
ssl.truststore.type=PKCS12
ssl.truststore.password=${KAFKA_TLS_PASSWORD}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:CN=kafka
log.dirs=/var/lib/kafka/data/log
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
chmod 0600 "$props"
# The admin client's settings, for the health check and acl-apply (same volume layout in both).
cat > /var/lib/kafka/data/admin.properties <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${PASSWORD_ADMIN}";
ssl.truststore.location=${tls}/truststore.p12
ssl.truststore.type=PKCS12
ssl.truststore.password=${KAFKA_TLS_PASSWORD}
PROPS
chmod 0600 /var/lib/kafka/data/admin.properties
scram=(--add-scram "SCRAM-SHA-512=[name=admin,password=${PASSWORD_ADMIN}]")
for variable in $(compgen -v PASSWORD_); do
  principal=$(echo "${variable#PASSWORD_}" | tr 'A-Z_' 'a-z-')
  [ "$principal" = admin ] && continue
  scram+=(--add-scram "SCRAM-SHA-512=[name=${principal},password=${!variable}]")
done
if [ ! -f /var/lib/kafka/data/log/meta.properties ]; then
  /opt/kafka/bin/kafka-storage.sh format --cluster-id "${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" \
    --config "$props" "${scram[@]}"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$props"
