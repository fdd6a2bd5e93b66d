"""One settings module for every shape of the back-office.

Every knob comes from the environment (django-environ). The defaults make a fresh
machine work with nothing installed: SQLite files under ``var/``, a Celery broker on
the filesystem and the local Parsec sandbox. ``DJANGO_ENV=production`` turns the
defaults strict: missing secrets stop the start-up instead of being generated.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.urls import reverse_lazy

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("BACKOFFICE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"


def _development_secret_key(name: str = "secret_key") -> str:
    """A random key kept in var/ so sessions (and the audit chain) survive restarts of a development machine."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


def _weak_key(value: str) -> bool:
    """Django's own measure of a weak SECRET_KEY (check --deploy's W009)."""
    return len(value) < 50 or len(set(value)) < 5 or value.startswith("django-insecure-")


def _previous_chain_keys() -> list[str]:
    """AUDIT_CHAIN_PREVIOUS_KEYS: the audit chain's retired keys, comma-separated (audit.chain)."""
    return [key.strip() for key in env.str("AUDIT_CHAIN_PREVIOUS_KEYS", default="").split(",") if key.strip()]


def _production_guards() -> None:
    """Production refuses to start without its secrets, and with a guard down unless that guard is
    named in INSECURE_PRODUCTION_ACKNOWLEDGED (e.g. "OTP_REQUIRED" on a rehearsal system)."""
    needed = ("SECRET_KEY", "AUDIT_CHAIN_KEY", "ALLOWED_HOSTS", "PARSEC_API_KEY", "DATABASE_URL")
    missing = [name for name in needed if not env.str(name, default="")]
    if missing:
        raise ImproperlyConfigured(f"DJANGO_ENV=production needs these environment variables: {', '.join(missing)}")
    secret_key, chain_key = env.str("SECRET_KEY"), env.str("AUDIT_CHAIN_KEY")
    if chain_key == secret_key:
        raise ImproperlyConfigured("AUDIT_CHAIN_KEY must differ from SECRET_KEY (each is a key of its own).")
    acknowledged = set(env.list("INSECURE_PRODUCTION_ACKNOWLEDGED", default=[]))
    down = {
        "SECRET_KEY": "SECRET_KEY is weak (at least 50 characters, 5 different, not django-insecure-…)"
        if _weak_key(secret_key) else "",
        "AUDIT_CHAIN_KEY": "AUDIT_CHAIN_KEY is weak (at least 50 characters, 5 different)" if _weak_key(chain_key) else "",
        "AUDIT_CHAIN_PREVIOUS_KEYS": "AUDIT_CHAIN_PREVIOUS_KEYS holds a weak key (each: at least 50 characters, 5 "
        "different)" if any(_weak_key(k) for k in _previous_chain_keys()) else "",
        "DEBUG": "DEBUG is on (tracebacks and settings would be shown to anyone)" if env.bool("DEBUG", default=False) else "",
        "OTP_REQUIRED": "OTP_REQUIRED is off (staff would sign in with a password alone)"
        if not env.bool("OTP_REQUIRED", default=True) else "",
    }
    refused = [f"{problem}; set INSECURE_PRODUCTION_ACKNOWLEDGED={name} to start anyway"
               for name, problem in down.items() if problem and name not in acknowledged]
    if refused:
        raise ImproperlyConfigured("DJANGO_ENV=production refuses to start: " + " / ".join(refused))


if PRODUCTION:
    _production_guards()

SECRET_KEY = env.str("SECRET_KEY", default="") or _development_secret_key()
# The audit chain's HMAC key (audit.chain): from the environment, never in the database, and not
# SECRET_KEY (which signs sessions and so lives on every web process that renders a page).
AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY", default="") or _development_secret_key("audit_chain_key")
# Retired chain keys: rows and checkpoints they signed still verify (README "Security model", rotation).
AUDIT_CHAIN_PREVIOUS_KEYS = _previous_chain_keys()
if AUDIT_CHAIN_KEY in AUDIT_CHAIN_PREVIOUS_KEYS or SECRET_KEY in AUDIT_CHAIN_PREVIOUS_KEYS:
    raise ImproperlyConfigured("AUDIT_CHAIN_PREVIOUS_KEYS holds AUDIT_CHAIN_KEY or SECRET_KEY: a retired key is "
                               "neither the current one nor the session key.")
# Checkpoints of the chain's head, appended outside the database (and to the log stream).
AUDIT_CHECKPOINT_DIR = env.str("AUDIT_CHECKPOINT_DIR", default=str(VAR_DIR / "audit-checkpoints"))
AUDIT_CHECKPOINT_INTERVAL = env.int("AUDIT_CHECKPOINT_INTERVAL", default=300)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # BasicAppConfig: unfold's default config would replace admin.site with a plain UnfoldAdminSite,
    # dropping ours (and its second factor); BackofficeAdminConfig sets the site.
    "unfold.apps.BasicAppConfig",
    "unfold.contrib.filters",
    "backoffice.apps.BackofficeConfig",
    "backoffice.apps.BackofficeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "django_filters",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # The ladder, bottom up (ARCHITECTURE.md): each app imports only those listed before it.
    "core",
    "parsec",
    "audit",
    "api",
    "approvals",
    "customers",
    "orders",
    "compliance",
    "sync",
    "sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "backoffice.middleware.SecondFactorMiddleware",
    "backoffice.middleware.ApiNoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"
LOGIN_URL = "admin:login"
# A sign-in from a bookmarked /admin/login/ (no ?next=) lands on the dashboard, not /accounts/profile/.
LOGIN_REDIRECT_URL = "admin:index"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "backoffice.context_processors.kill_switches",
            ],
        },
    },
]

# --- Databases -------------------------------------------------------------
# The back-office and the sandbox never share tables: the sandbox app lives in
# its own database alias (its own SQLite file, or its own PostgreSQL database).
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'backoffice.sqlite3'}"),
    "sandbox": env.db("SANDBOX_DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'sandbox.sqlite3'}"),
}
for _alias, _db in DATABASES.items():
    _db.setdefault("ATOMIC_REQUESTS", False)
    if _db["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets the web server, the workers and the beat read while one writes.
        _db.setdefault("OPTIONS", {}).update(
            {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
        )
        # Test databases are files (one per test process), not shared-cache memory: threads and
        # worker processes in tests then lock as in production (busy timeout) instead of failing
        # at once with "database table is locked".
        _db.setdefault("TEST", {}).setdefault("NAME", str(VAR_DIR / f"test-{_alias}-{os.getpid()}.sqlite3"))
    else:
        _db.setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
        _db.setdefault("CONN_HEALTH_CHECKS", True)
# Least privilege on PostgreSQL (README, "Security model"): DATABASE_URL is the app's role, which owns
# nothing and may not touch the audit log but to append; DATABASE_OWNER_URL, where set, is the role
# that owns the schema: migrate and flush run as it, and migrate grants the app's role its rights.
DATABASE_OWNER = env.db("DATABASE_OWNER_URL") if env.str("DATABASE_OWNER_URL", default="") else None
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default="") or (DATABASES["default"].get("USER", "") if DATABASE_OWNER else "")
DATABASE_ROUTERS = ["backoffice.routers.SandboxRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    # Stricter than Django's 0.7: "operator2operator2" is too close to "operator2".
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator", "OPTIONS": {"max_similarity": 0.5}},
    {"NAME": "backoffice.staff_auth.UsernameNotInPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Staff sign in with a TOTP second factor; enforced in the production shape.
OTP_REQUIRED = env.bool("OTP_REQUIRED", default=PRODUCTION)
OTP_TOTP_ISSUER = "Parsec back-office"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
# Locked by the account alone and by the address alone: one address cannot try a few passwords on
# every account, nor many addresses many passwords on one. A success does not wipe the failures
# (it would let a member's own sign-in reset the count of guesses made from their address).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = False
# The client's address: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies (the production TLS proxy
# is one) the address the outermost of them saw, read from the right of X-Forwarded-For.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "backoffice.staff_auth.client_ip"
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"  # a clear page (status 429), not a bare line of text

# --- Security headers (check --deploy clean in production) -----------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): scripts only from our own origin, never inline, so an
# injected <script> or onclick= does not run. 'unsafe-eval' stays because the admin theme's
# Alpine.js evaluates its x-data/@click attributes with Function(); styles may be inline (the theme
# and htmx write style attributes). Swagger UI loads its script from a URL of its own.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'unsafe-eval'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
    },
}
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- I18N / time -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# One date-time format everywhere, with its zone (backoffice/formats/en/formats.py; core.formatting.when).
FORMAT_MODULE_PATH = ["backoffice.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage" if PRODUCTION else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files straight from the apps in development (no collectstatic needed).
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise expects the folder even when serving from the apps

# --- Parsec ------------------------------------------------------------------
SANDBOX_DEMO_BUILDER_KEY = "pk_sandbox_demo_builder_key"
PARSEC_API_BASE_URL = env.str("PARSEC_API_BASE_URL", default="http://127.0.0.1:3000")
PARSEC_API_KEY = env.str("PARSEC_API_KEY", default=SANDBOX_DEMO_BUILDER_KEY)
PARSEC_CONNECT_TIMEOUT = env.float("PARSEC_CONNECT_TIMEOUT", default=3.05)
PARSEC_READ_TIMEOUT = env.float("PARSEC_READ_TIMEOUT", default=10.0)
PARSEC_READ_RETRIES = env.int("PARSEC_READ_RETRIES", default=3)
PARSEC_RETRY_MAX_BACKOFF = env.float("PARSEC_RETRY_MAX_BACKOFF", default=8.0)
PARSEC_CALL_LOG_RETENTION_DAYS = env.int("PARSEC_CALL_LOG_RETENTION_DAYS", default=14)
PARSEC_RETRY_BASE_BACKOFF = env.float("PARSEC_RETRY_BASE_BACKOFF", default=0.25)
PARSEC_HTTP_POOL_SIZE = env.int("PARSEC_HTTP_POOL_SIZE", default=32)
# The shared QPS budget (parsec/ratelimit.py): the builder pool and each customer's qps_limit,
# times a headroom; bursts of PARSEC_RATE_BURST_SECONDS worth of tokens.
PARSEC_RATE_LIMIT_ENABLED = env.bool("PARSEC_RATE_LIMIT_ENABLED", default=True)
PARSEC_POOL_QPS = env.float("PARSEC_POOL_QPS", default=500)
PARSEC_POOL_HEADROOM = env.float("PARSEC_POOL_HEADROOM", default=0.95)
PARSEC_DEFAULT_CUSTOMER_QPS = env.int("PARSEC_DEFAULT_CUSTOMER_QPS", default=10)
PARSEC_RATE_BURST_SECONDS = env.float("PARSEC_RATE_BURST_SECONDS", default=0.2)
# Sandbox control plane (/_sandbox/...): demo signing, the chain's mining; never used against real Parsec.
PARSEC_SANDBOX_ADMIN_KEY = env.str("PARSEC_SANDBOX_ADMIN_KEY", default="")

# --- Fee escrow on chain (parsec.escrow_chain; README "Fee escrow on chain") --------
# A Polygon JSON-RPC URL; empty: the sandbox's /_chain when PARSEC_SANDBOX_ADMIN_KEY is set (the
# embedded default), else no chain reader (records are then shown as not cross-checked).
ESCROW_RPC_URL = env.str("ESCROW_RPC_URL", default="")
ESCROW_CHAIN_ID = env.int("ESCROW_CHAIN_ID", default=137)
ESCROW_CONTRACT_ADDRESS = env.str("ESCROW_CONTRACT_ADDRESS", default="0xbd25057b4d3252ca1ec26e1e5efb6480315ba142")
# Parsec publishes no ABI: the default is our stand-in contract's (contracts/build/).
ESCROW_ABI_PATH = env.str("ESCROW_ABI_PATH", default=str(BASE_DIR / "contracts" / "build" / "ParsecFeeEscrow.abi.json"))
# Blocks on top before escrow state counts as final: 128 blocks (~4.5 minutes at Polygon's ~2 s) is
# deeper than Polygon PoS reorgs have gone and than its milestones' finality takes.
ESCROW_CONFIRMATIONS = env.int("ESCROW_CONFIRMATIONS", default=128)
ESCROW_LOG_BLOCK_RANGE = env.int("ESCROW_LOG_BLOCK_RANGE", default=2000)  # blocks per eth_getLogs (providers cap it)
ESCROW_START_BLOCK = env.int("ESCROW_START_BLOCK", default=0)  # the contract's deployment block
ESCROW_RPC_TIMEOUT_SECONDS = env.float("ESCROW_RPC_TIMEOUT_SECONDS", default=5.0)
ESCROW_RPC_RETRIES = env.int("ESCROW_RPC_RETRIES", default=3)  # attempts per read (retryable errors only)

# --- Operator trading (orders.services) ----------------------------------------
# The builder's tier at Parsec (no endpoint returns it): caps the escrow fee at the tier's maximum bps.
PARSEC_BUILDER_TIER = env.str("PARSEC_BUILDER_TIER", default="iron")
# Orders whose notional (USDC) exceeds this need a second Operations user's approval.
ORDER_FOUR_EYES_NOTIONAL_USDC = Decimal(env.str("ORDER_FOUR_EYES_NOTIONAL_USDC", default="1000"))
APPROVAL_REQUEST_TTL_SECONDS = env.int("APPROVAL_REQUEST_TTL_SECONDS", default=3600)
ORDER_GTD_MIN_SECONDS = env.int("ORDER_GTD_MIN_SECONDS", default=60)
# Reconciliation of intents whose answer was lost: first look after a few seconds; "not found"
# counts as not placed only once the order has had time to land; past the deadline (or the
# attempts) a human looks. Deadline + sweep interval stays well under 15 minutes.
ORDER_RECONCILE_FIRST_CHECK_SECONDS = env.float("ORDER_RECONCILE_FIRST_CHECK_SECONDS", default=2.0)
ORDER_RECONCILE_RETRY_SECONDS = env.float("ORDER_RECONCILE_RETRY_SECONDS", default=15.0)
ORDER_RECONCILE_SETTLE_SECONDS = env.float("ORDER_RECONCILE_SETTLE_SECONDS", default=30.0)
ORDER_RECONCILE_DEADLINE_SECONDS = env.int("ORDER_RECONCILE_DEADLINE_SECONDS", default=600)
ORDER_RECONCILE_MAX_ATTEMPTS = env.int("ORDER_RECONCILE_MAX_ATTEMPTS", default=20)
ORDER_RECONCILE_WINDOW_SECONDS = env.int("ORDER_RECONCILE_WINDOW_SECONDS", default=120)
# An intent still "sending" after this long lost its worker mid-call: it becomes unknown.
ORDER_SENDING_STALE_SECONDS = env.float("ORDER_SENDING_STALE_SECONDS", default=60.0)
# A queued intent no worker picked up within this long is withdrawn rather than sent late.
ORDER_QUEUED_MAX_DELAY_SECONDS = env.int("ORDER_QUEUED_MAX_DELAY_SECONDS", default=120)
ORDER_INTENT_SWEEP_INTERVAL = env.int("ORDER_INTENT_SWEEP_INTERVAL", default=20)

# --- Sync (customers.sync, orders.sync; intervals in seconds) --------------------
# Customers with recent activity (a fill, an order change, a live order) within
# SYNC_ACTIVE_WINDOW are refreshed every SYNC_ACTIVE_INTERVAL, the others every
# SYNC_DORMANT_INTERVAL; each fan-out enqueues at most what SYNC_POOL_SHARE of the pool
# can serve before the next fan-out (README: the arithmetic for 10,000 customers).
SYNC_SCHEDULE_INTERVAL = env.int("SYNC_SCHEDULE_INTERVAL", default=15)
SYNC_ACTIVE_INTERVAL = env.int("SYNC_ACTIVE_INTERVAL", default=60)
SYNC_DORMANT_INTERVAL = env.int("SYNC_DORMANT_INTERVAL", default=900)
SYNC_ACTIVE_WINDOW = env.int("SYNC_ACTIVE_WINDOW", default=3600)
SYNC_POOL_SHARE = env.float("SYNC_POOL_SHARE", default=0.6)
SYNC_USERS_INTERVAL = env.int("SYNC_USERS_INTERVAL", default=600)
SYNC_MARKETS_INTERVAL = env.int("SYNC_MARKETS_INTERVAL", default=900)
# The orders list is read from the last full sync minus this overlap (late-arriving rows).
SYNC_ORDER_OVERLAP_SECONDS = env.int("SYNC_ORDER_OVERLAP_SECONDS", default=600)
# A first sync reads this far back (inside the free tier's 5-day history window).
SYNC_ORDER_LOOKBACK_SECONDS = env.int("SYNC_ORDER_LOOKBACK_SECONDS", default=4 * 86400)
# A run still "running" after this long lost its worker; the scheduler may start another.
SYNC_RUN_STALE_SECONDS = env.int("SYNC_RUN_STALE_SECONDS", default=600)
SYNC_TASK_TIME_LIMIT = env.int("SYNC_TASK_TIME_LIMIT", default=300)
# How many times one step waits out a 429's Retry-After before it is recorded as failed.
SYNC_RATE_LIMIT_WAITS = env.int("SYNC_RATE_LIMIT_WAITS", default=5)
# A kill switch cancels the open orders in its scope at once, up to this many; a builder-wide
# switch, or one over more orders, cancels them in a task (orders.tasks).
KILL_SWITCH_INLINE_CANCELS = env.int("KILL_SWITCH_INLINE_CANCELS", default=20)
# A fills or positions read that hashes like the last fully stored one skips the row-by-row
# comparison (sync.report.ReadDigests), for at most this long: then the rows are compared again.
SYNC_DIGEST_MAX_AGE_SECONDS = env.int("SYNC_DIGEST_MAX_AGE_SECONDS", default=6 * 3600)

# --- Markets that end: settlement (orders.settlements) ----------------------------------------
# What a voided (cancelled) market pays per share, per exchange: "even" = 1/N USDC per outcome
# share, cut to the base unit (Polymarket resolves a cancelled market 50-50); "cost" = the
# holding's average price back (Kalshi returns the cost). The sources do not say (NOTES §12.6).
SETTLEMENT_VOID_RULE = {
    "polymarket": env.str("SETTLEMENT_VOID_RULE_POLYMARKET", default="even"),
    "kalshi": env.str("SETTLEMENT_VOID_RULE_KALSHI", default="cost"),
}
if not set(SETTLEMENT_VOID_RULE.values()) <= {"even", "cost"}:
    raise ImproperlyConfigured("SETTLEMENT_VOID_RULE_* must be 'even' or 'cost'")
# Markets that ended are looked for among Parsec's closed and resolved lists when the mirror
# meets an id it cannot name by parsec_id (a Polymarket condition id): at most this many pages.
SYNC_MARKET_DISCOVERY_PAGES = env.int("SYNC_MARKET_DISCOVERY_PAGES", default=10)
# "Resolving soon": markets whose end date falls within this many days.
MARKETS_RESOLVING_SOON_DAYS = env.int("MARKETS_RESOLVING_SOON_DAYS", default=14)

# --- Surveillance (compliance.surveillance) and the dashboard ---------------------------------
# One named setting per rule, with its thresholds (each from the environment); alerts are
# deduplicated, so the rules run after every customer sync and on a schedule.
# 1. Bought the outcome that then won within hours_before_end of the market's end of trading.
SURV_INSIDER = {
    "enabled": env.bool("SURV_INSIDER_ENABLED", default=True),
    "hours_before_end": env.float("SURV_INSIDER_HOURS_BEFORE_END", default=24.0),
    "min_notional_usdc": Decimal(env.str("SURV_INSIDER_MIN_NOTIONAL_USDC", default="100")),
}
# 2. One market, or one event, holding at least `share` of a customer's open cost basis.
SURV_CONCENTRATION = {
    "enabled": env.bool("SURV_CONCENTRATION_ENABLED", default=True),
    "share": Decimal(env.str("SURV_CONCENTRATION_SHARE", default="0.6")),
    "min_exposure_usdc": Decimal(env.str("SURV_CONCENTRATION_MIN_EXPOSURE_USDC", default="100")),
}
# 3. Two customers who share a wallet (or were onboarded from the same one) on opposite sides of
#    one trade: opposite fills of one outcome at one price and size within `seconds`.
SURV_SELF_CROSSING = {
    "enabled": env.bool("SURV_SELF_CROSSING_ENABLED", default=True),
    "seconds": env.int("SURV_SELF_CROSSING_SECONDS", default=5),
    "window_hours": env.int("SURV_SELF_CROSSING_WINDOW_HOURS", default=24),
}
# 4. Layering: at least min_cancels cancelled orders and cancels / orders-with-fills >= ratio, over window_hours.
SURV_LAYERING = {
    "enabled": env.bool("SURV_LAYERING_ENABLED", default=True),
    "window_hours": env.int("SURV_LAYERING_WINDOW_HOURS", default=24),
    "min_cancels": env.int("SURV_LAYERING_MIN_CANCELS", default=10),
    "ratio": Decimal(env.str("SURV_LAYERING_RATIO", default="5")),
}
# 5. An order `multiple` times the customer's average order size over their previous
#    min_history..(history_orders) orders in history_days.
SURV_SIZE_CHANGE = {
    "enabled": env.bool("SURV_SIZE_CHANGE_ENABLED", default=True),
    "window_hours": env.int("SURV_SIZE_CHANGE_WINDOW_HOURS", default=24),
    "history_days": env.int("SURV_SIZE_CHANGE_HISTORY_DAYS", default=30),
    "min_history": env.int("SURV_SIZE_CHANGE_MIN_HISTORY", default=5),
    "history_orders": env.int("SURV_SIZE_CHANGE_HISTORY_ORDERS", default=50),
    "multiple": Decimal(env.str("SURV_SIZE_CHANGE_MULTIPLE", default="5")),
}
# 6. An order of at least min_notional_usdc from a customer with fewer than max_history earlier
#    orders in history_days.
SURV_LARGE_NOTIONAL = {
    "enabled": env.bool("SURV_LARGE_NOTIONAL_ENABLED", default=True),
    "window_hours": env.int("SURV_LARGE_NOTIONAL_WINDOW_HOURS", default=24),
    "history_days": env.int("SURV_LARGE_NOTIONAL_HISTORY_DAYS", default=30),
    "max_history": env.int("SURV_LARGE_NOTIONAL_MAX_HISTORY", default=3),
    "min_notional_usdc": Decimal(env.str("SURV_LARGE_NOTIONAL_MIN_USDC", default="500")),
}
SURVEILLANCE_INTERVAL = env.int("SURVEILLANCE_INTERVAL", default=300)
# Dashboard: exchange pings and the pool are cached this long; a sync kind is stale after this.
DASHBOARD_PING_CACHE_SECONDS = env.int("DASHBOARD_PING_CACHE_SECONDS", default=30)
DASHBOARD_REFRESH_SECONDS = env.int("DASHBOARD_REFRESH_SECONDS", default=15)
DASHBOARD_SYNC_STALE_SECONDS = env.int("DASHBOARD_SYNC_STALE_SECONDS", default=900)
# The beat sends a heartbeat task this often; the dashboard shows the scheduler late (red) past
# SCHEDULER_LATE_SECONDS without one.
SCHEDULER_HEARTBEAT_INTERVAL = env.int("SCHEDULER_HEARTBEAT_INTERVAL", default=15)
SCHEDULER_LATE_SECONDS = env.int("SCHEDULER_LATE_SECONDS", default=90)
ESCROW_STUCK_SECONDS = env.int("ESCROW_STUCK_SECONDS", default=600)
# How often open or flagged fee-escrow records are re-derived and compared with the escrow (seconds; 0 = off).
ESCROW_CHECK_INTERVAL = env.int("ESCROW_CHECK_INTERVAL", default=60)
# The escrow's events are followed this often (seconds; 0 = off), at most this many blocks a run.
ESCROW_FOLLOW_INTERVAL = env.int("ESCROW_FOLLOW_INTERVAL", default=4)
ESCROW_FOLLOW_MAX_BLOCKS = env.int("ESCROW_FOLLOW_MAX_BLOCKS", default=10_000)
# After a placement, a cancel or a sync that moved an order, its fee record is read again after
# these delays (seconds) until the chain shows what we expect.
ESCROW_FOLLOW_UP_DELAYS = env.list("ESCROW_FOLLOW_UP_DELAYS", cast=float, default=[2, 4, 6, 10, 20, 40])
# A chain that has not (yet) shown what we expect is "pending on chain", not a difference, for this
# many blocks (and seconds, for a chain that stopped): Parsec's transactions are mined after it answers.
ESCROW_CHAIN_PENDING_BLOCKS = env.int("ESCROW_CHAIN_PENDING_BLOCKS", default=15)
ESCROW_CHAIN_PENDING_SECONDS = env.int("ESCROW_CHAIN_PENDING_SECONDS", default=60)

# --- Celery ----------------------------------------------------------------
# Embedded default: kombu's filesystem transport, a folder of message files: no
# server, survives restarts, shared by every process on the machine.
CELERY_QUEUE_DIR = VAR_DIR / "celery-broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem"):
    for _sub in ("in", "processed", "control"):
        (CELERY_QUEUE_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "in"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "in"),
        "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
    }
else:
    # Redis redelivers an unacknowledged task after this long (acks_late tasks).
    # kombu scans for expired unacknowledged messages every 10 s but, by default, acts on
    # only one scan in ten; a killed worker's task would then wait up to 100 s more.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900),
        "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=1),
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Shared rate limiter for calls to Parsec: Redis when one is configured.
RATE_LIMIT_REDIS_URL = env.str("RATE_LIMIT_REDIS_URL", default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "")

# --- Cache -------------------------------------------------------------------
# Per-process memory unless CACHE_URL names a shared cache (e.g. redis://127.0.0.1:6379/2): set it
# in production so per-token API throttles and cached dashboard figures hold across web processes.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# --- DRF -------------------------------------------------------------------
# The API's own pieces live in the ``api`` app (tokens, errors, paging, idempotency).
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "api.schema.BackofficeAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiTokenAuthentication",
        "api.authentication.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasApiRole"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.PerTokenThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": env.str("API_TOKEN_THROTTLE_RATE", default="1200/min")},
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Cursor",
    "DEFAULT_FILTER_BACKENDS": ["api.filtering.StrictFilterBackend", "api.filtering.StrictOrderingFilter"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "PAGE_SIZE": 50,
}
API_PAGE_SIZE_MAX = env.int("API_PAGE_SIZE_MAX", default=500)
# Idempotency keys are kept this long (at least 24 h), and an in-flight claim is taken over by a
# retry only after its lease has passed (a crashed request leaves its claim behind).
API_IDEMPOTENCY_TTL_HOURS = max(24, env.int("API_IDEMPOTENCY_TTL_HOURS", default=48))
API_IDEMPOTENCY_LEASE_SECONDS = env.int("API_IDEMPOTENCY_LEASE_SECONDS", default=120)
API_IDEMPOTENCY_PRUNE_INTERVAL = env.int("API_IDEMPOTENCY_PRUNE_INTERVAL", default=3600)
SPECTACULAR_SETTINGS = {
    "TITLE": "Parsec builder back-office API",
    "DESCRIPTION": "Internal API over the back-office's mirror of Parsec and its operator actions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"MarketStatusEnum": "orders.models.Market.Status"},
    "SERVE_AUTHENTICATION": ["api.authentication.ApiTokenAuthentication", "api.authentication.StaffSessionAuthentication"],
    "SERVE_PERMISSIONS": ["api.permissions.HasApiRole"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "api.schema.strict_query_strings"],
    # Swagger UI served from our own static files (the sidecar package): no CDN needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Admin look (django-unfold) -----------------------------------------------
UNFOLD = {
    "SITE_TITLE": "Parsec back-office",
    "SITE_HEADER": "Parsec back-office",
    "SITE_SYMBOL": "query_stats",
    "SHOW_HISTORY": False,
    "DASHBOARD_CALLBACK": "backoffice.dashboard.dashboard_callback",
    "STYLES": [lambda request: static("backoffice/admin.css")],
    # The user menu: the second factor (enrol, or replace the device) and the password.
    "ACCOUNT": {"navigation": [
        {"title": "Two-factor sign-in", "link": reverse_lazy("admin:otp_enrol")},
        {"title": "Change password", "link": reverse_lazy("admin:password_change")},
    ]},
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        # Resolved per request so that the sidebar shows only what the user may open.
        "navigation": lambda request: __import__("backoffice.navigation", fromlist=["sidebar"]).sidebar(request),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # One JSON object per line (python-json-logger): a value with a newline or a quote in it stays
    # inside its field and cannot forge another record; a traceback is one field of its record.
    "formatters": {"json": {"()": "pythonjsonlogger.json.JsonFormatter",
                            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s", "json_ensure_ascii": True}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's own loggers keep their plain default handlers unless told otherwise: one stream, one format.
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
    },
}
