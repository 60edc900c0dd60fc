#!/bin/bash
# Makes the broker's TLS identity once (compose service tls-init, the apache/kafka image's keytool):
# a self-signed certificate for the names clients use (kafka inside compose, localhost outside) that
# clients trust directly (ca.pem, ALSTREAM_KAFKA__SSL_CAFILE). Replace the files in the kafka-tls
# volume with certificates from your own CA to use those instead.
set -euo pipefail
dir=/etc/kafka/tls
: "${KAFKA_TLS_PASSWORD:?set KAFKA_TLS_PASSWORD in deploy/.env (docs/deploy.md)}"
if [ -s "$dir/broker.p12" ] && [ -s "$dir/truststore.p12" ] && [ -s "$dir/ca.pem" ]; then
  echo "tls-init: $dir already holds the broker's keys"
  exit 0
fi
keytool -genkeypair -alias broker -keyalg RSA -keysize 3072 -validity 825 -dname "CN=kafka" \
  -ext "SAN=dns:kafka,dns:localhost" -keystore "$dir/broker.p12" -storetype PKCS12 \
  -storepass "$KAFKA_TLS_PASSWORD" -keypass "$KAFKA_TLS_PASSWORD"
keytool -exportcert -rfc -alias broker -keystore "$dir/broker.p12" -storepass "$KAFKA_TLS_PASSWORD" \
  -file "$dir/ca.pem"
keytool -importcert -noprompt -alias broker -file "$dir/ca.pem" -keystore "$dir/truststore.p12" \
  -storetype PKCS12 -storepass "$KAFKA_TLS_PASSWORD"
chmod 0644 "$dir/ca.pem"
chmod 0600 "$dir/broker.p12" "$dir/truststore.p12"
chown 1000:1000 "$dir/broker.p12" "$dir/truststore.p12"
echo "tls-init: made the broker's certificate (CN=kafka, SAN kafka, localhost)"
