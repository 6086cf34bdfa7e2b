"""Words that alert rules are written in: process and service names, devices, interfaces,
users, tables, mounts, systemd units, exception classes, ports and exit codes.

`bench.alert_rules` substitutes them into rule templates. Where a word also appears in
`bench.generate`'s traffic it is there on purpose (see the notes below).
"""

from __future__ import annotations

# "java" is left out: the synthetic traffic's kernel OOM line kills java, and an OOM rule on it
# would match a thirteenth of all messages (the rules that match traffic are chosen in
# bench.alert_rules.HITS, not left to chance).
PROCS = ["nginx", "python3", "node", "postgres", "mysqld", "redis-server", "php-fpm", "httpd", "chrome",
         "dockerd", "containerd", "kubelet", "etcd", "haproxy", "memcached", "mongod", "elasticsearch",
         "kafka", "zookeeper", "beam.smp", "ruby", "puma", "gunicorn", "uwsgi", "celery", "sidekiq", "envoy",
         "consul", "vault", "prometheus", "grafana-server", "influxd", "clickhouse-serv", "varnishd", "squid",
         "named", "rsyslogd", "postfix", "dovecot", "ffmpeg", "convert", "gzip", "rsync", "backup-agent",
         "node_exporter", "telegraf", "fluent-bit", "logstash", "gitlab-runner", "minio", "ceph-osd",
         "qemu-system-x86", "chromedriver", "tesseract", "pg_dump", "mysqldump", "clamd", "spamd"]
LIBS = ["libc-2.31.so", "libc.so.6", "libpthread-2.31.so", "libstdc++.so.6.0.28", "libjvm.so",
        "libssl.so.1.1", "libcrypto.so.3", "ld-2.31.so", "libz.so.1.2.11", "libpython3.11.so.1.0",
        "libnode.so.108", "libglib-2.0.so.0.7400.6", "libmysqlclient.so.21", "libpq.so.5.15",
        "libjemalloc.so.2", "libgcc_s.so.1"]
SEGV_ERRORS = [4, 6, 7, 14, 15]
DEVS = ([f"sd{c}" for c in "abcdefghijkl"] + [f"nvme{i}n1" for i in range(4)] + [f"vd{c}" for c in "abcd"]
        + [f"xvd{c}" for c in "abcdf"] + ["md0", "md1", "md127"] + [f"dm-{i}" for i in range(4)])
NICS = (["eth0", "eth1", "eth2", "eth3", "ens3", "ens4", "ens5", "eno1", "eno2", "ib0", "bond0", "bond1"]
        + [f"enp{b}s0f{f}" for b in (3, 59, 94, 175) for f in (0, 1)])
NIC_DRIVERS = ["ixgbe", "i40e", "ice", "mlx5_core", "bnxt_en", "e1000e", "igb", "tg3", "virtio_net", "ena"]
# The first ten are the traffic's users, so sshd rules on them match now and then (rarely: each
# rule also names an address prefix).
USERS = ["root", "admin", "deploy", "alice", "bob", "carol", "postgres", "www-data", "ubuntu", "git",
         "oracle", "test", "guest", "pi", "ftp", "nagios", "jenkins", "ansible", "backup", "mysql", "user",
         "support", "ec2-user", "centos", "debian", "hadoop", "elastic", "zabbix", "teamcity", "ftpuser",
         "steam", "operator", "dev", "qa", "sysadmin", "webmaster", "apache", "tomcat", "redis", "minecraft"]
SERVICES = ["auth", "billing", "checkout", "payments", "orders", "inventory", "search", "catalog", "cart",
            "shipping", "notifications", "email", "sms", "users", "profile", "gateway", "frontend", "reporting",
            "analytics", "recommendations", "pricing", "ledger", "invoices", "identity", "sessions", "uploads",
            "media", "thumbnails", "geo", "fraud", "risk", "kyc", "ads", "feed", "chat", "webhooks",
            "scheduler", "exporter", "importer", "tax"]
DOMAINS = ["internal", "svc.cluster.local", "prod.example.com", "example.net", "corp.local"]
RESOURCES = ["accounts", "addresses", "auth/token", "carts", "checkout", "coupons", "customers", "events",
             "exports", "files", "invoices", "items", "jobs", "ledger", "messages", "notifications",
             "payments", "payouts", "plans", "prices", "products", "refunds", "reports", "reviews", "search",
             "sessions", "shipments", "subscriptions", "tenants", "uploads", "webhooks", "orders", "users"]
HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
TABLES = ["orders", "order_items", "users", "accounts", "payments", "invoices", "sessions", "events",
          "audit_log", "inventory", "products", "carts", "shipments", "refunds", "ledger_entries",
          "subscriptions", "api_keys", "jobs", "job_runs", "notifications", "outbox", "tenants"]
DATABASES = ["app", "billing", "analytics", "auth", "orders", "reporting", "warehouse", "ledger"]
MOUNTS = ["/", "/var", "/var/log", "/var/lib/docker", "/var/lib/postgresql", "/var/lib/mysql", "/home",
          "/tmp", "/data", "/data1", "/data2", "/srv", "/opt", "/mnt/backup", "/var/lib/kafka",
          "/var/lib/elasticsearch", "/var/spool/postfix", "/boot"]
UNITS = ["nginx", "postgresql@15-main", "docker", "containerd", "kubelet", "ssh", "cron", "rsyslog",
         "haproxy", "redis-server", "mysql", "php8.2-fpm", "elasticsearch", "kafka", "zookeeper",
         "node_exporter", "prometheus", "grafana-server", "telegraf", "consul", "vault", "nomad", "etcd",
         "chronyd", "systemd-resolved", "NetworkManager", "unattended-upgrades", "certbot", "logrotate",
         "fstrim", "apt-daily", "snapd", "cloud-init", "fluent-bit", "memcached", "rabbitmq-server",
         "clickhouse-server", "minio", "gitlab-runner", "backup"]
SIGNALS = ["KILL", "SEGV", "ABRT", "TERM", "BUS", "ILL", "FPE"]
UNIT_RESULTS = ["exit-code", "signal", "timeout", "core-dump", "watchdog", "oom-kill"]
JAVA_EXCEPTIONS = [
    "java.lang.NullPointerException", "java.lang.OutOfMemoryError", "java.lang.IllegalStateException",
    "java.lang.IllegalArgumentException", "java.lang.ArrayIndexOutOfBoundsException",
    "java.lang.ClassCastException", "java.lang.StackOverflowError", "java.lang.NumberFormatException",
    "java.util.ConcurrentModificationException", "java.util.NoSuchElementException", "java.io.IOException",
    "java.io.EOFException", "java.net.SocketTimeoutException", "java.net.ConnectException",
    "java.net.UnknownHostException", "java.sql.SQLTransientConnectionException",
    "org.postgresql.util.PSQLException", "javax.net.ssl.SSLHandshakeException",
    "org.apache.kafka.common.errors.TimeoutException", "org.apache.kafka.common.errors.NotLeaderOrFollowerException",
    "com.zaxxer.hikari.pool.HikariPool$PoolInitializationException",
    "org.springframework.dao.DataAccessResourceFailureException",
    "org.springframework.web.client.ResourceAccessException", "io.netty.channel.ConnectTimeoutException",
    "org.elasticsearch.ElasticsearchTimeoutException", "redis.clients.jedis.exceptions.JedisConnectionException"]
APP_EXCEPTIONS = ["Validation", "Payment", "Timeout", "NotFound", "Conflict", "RateLimit", "Authentication",
                  "Serialization", "Configuration", "QuotaExceeded", "Upstream", "Idempotency"]
PY_EXCEPTIONS = [
    "KeyError", "ValueError", "TypeError", "AttributeError", "IndexError", "ZeroDivisionError", "RuntimeError",
    "ConnectionResetError", "BrokenPipeError", "TimeoutError", "MemoryError", "RecursionError",
    "UnicodeDecodeError", "json.decoder.JSONDecodeError", "sqlalchemy.exc.OperationalError",
    "sqlalchemy.exc.IntegrityError", "psycopg2.OperationalError", "redis.exceptions.ConnectionError",
    "requests.exceptions.ReadTimeout", "requests.exceptions.ConnectionError", "urllib3.exceptions.MaxRetryError",
    "botocore.exceptions.ClientError", "django.db.utils.OperationalError",
    "celery.exceptions.SoftTimeLimitExceeded", "asyncio.exceptions.CancelledError"]
PY_KEYS = ["user_id", "tenant", "order_id", "amount", "currency", "email", "token", "sku", "region", "locale"]
GO_PANICS = [r"runtime error: invalid memory address or nil pointer dereference",
             r"runtime error: index out of range \[\d+\] with length \d+",
             r"runtime error: slice bounds out of range", r"assignment to entry in nil map",
             r"send on closed channel", r"close of closed channel"]
PORTS = [80, 443, 3306, 5432, 6379, 9092, 9200, 2379, 8080, 8443, 11211, 27017, 5672, 9000, 8500, 6443]
EXIT_CODES = [125, 126, 127, 134, 137, 139, 143, 255]
K8S_REASONS = ["CrashLoopBackOff", "OOMKilled", "ImagePullBackOff", "ErrImagePull", "Evicted",
               "CreateContainerConfigError", "FailedScheduling", "FailedMount"]
TLS_ERRORS = ["certificate verify failed", "certificate has expired", "unknown ca", "bad certificate",
              "handshake failure", "wrong version number", "no shared cipher"]
KERNEL_PANICS = ["Fatal exception", "Attempted to kill init!", "VFS: Unable to mount root fs",
                 "Out of memory and no killable processes", "hung_task: blocked tasks"]
HUNG_TASK_SECONDS = [120, 240, 480, 600]
