#!/bin/sh
# Configures and starts Debian's Postfix as the test relay between two NomaMail servers on
# loopback: it listens on 127.0.0.1:10025, takes mail only from 127.0.0.0/8, only for the
# domains office.test and internet.test, delivers nothing locally, and sends each domain to
# the address the test writes into /etc/postfix/nomamail-transport (then `postfix reload`).
set -eu

cat > /etc/postfix/main.cf <<'CONF'
compatibility_level = 3.6
myhostname = relay.nomamail.test
myorigin = $myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = office.test internet.test
transport_maps = texthash:/etc/postfix/nomamail-transport
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
biff = no
smtp_tls_security_level = none
smtpd_tls_security_level = none
maillog_file = /var/log/postfix-nomamail.log
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
smtp_connect_timeout = 5s
CONF

# The stock master.cf, with the SMTP listener moved to 127.0.0.1:10025 and out of the chroot.
sed -e 's/^smtp      inet  n       -       y       -       -       smtpd$/127.0.0.1:10025 inet n - n - - smtpd/' \
    /etc/postfix/master.cf.proto > /etc/postfix/master.cf
grep -q '^127.0.0.1:10025 inet' /etc/postfix/master.cf

: > /etc/postfix/nomamail-transport
postfix check
postfix stop >/dev/null 2>&1 || true
postfix start
