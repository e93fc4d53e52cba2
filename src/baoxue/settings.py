"""Django settings, read from the environment (see docs/deployment.md for every variable)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from baoxue.env import ConfigError, env_bool, env_int, env_int_item, env_list, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = env_path("BAOXUE_DATA_DIR", Path.cwd() / "data")

DEBUG = env_bool("BAOXUE_DEBUG", False)
TESTING = env_bool("BAOXUE_TESTING", False)


def _secret_key() -> str:
    """The key lives in the environment or in the data dir, never in the repository."""
    key = env_str("BAOXUE_SECRET_KEY")
    if key:
        return key
    key_file = DATA_DIR / "keys" / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    if TESTING:
        return "insecure-test-key-" + "x" * 40
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_urlsafe(50)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("BAOXUE_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("BAOXUE_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "baoxue.core.app_names.AxesConfig",  # "axes", named in Chinese
    "django_tasks",
    "baoxue.core.app_names.TasksDatabaseConfig",  # "django_tasks_db", named in Chinese
    "django_otp",
    "baoxue.core.app_names.TOTPConfig",  # "django_otp.plugins.otp_totp", named in Chinese
    "csp",
    "baoxue.core",
    "baoxue.accounts",
    "baoxue.registry",
    "baoxue.imports",
    "baoxue.subsidies",
    "baoxue.attendance",
    "baoxue.reconcile",
    "baoxue.cases",
    "baoxue.visits",
    "baoxue.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "baoxue.accounts.middleware.SessionRefreshMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "baoxue.accounts.middleware.TOTPRequiredMiddleware",
    # After WhiteNoise: static files never get here, so they stay cacheable.
    "baoxue.core.middleware.NoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "baoxue.accounts.middleware.ScopeMiddleware",
    "baoxue.core.audit.RefusalAuditMiddleware",  # every 403/404 and refused write, audited
    # Axes must come last so that it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "baoxue.urls"
WSGI_APPLICATION = "baoxue.wsgi.application"

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
                "django.template.context_processors.i18n",
                "baoxue.accounts.context_processors.scope",
                "baoxue.core.context_processors.worker_status",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
# SQLite in the data dir by default (a newcomer needs no service); DATABASE_URL for PostgreSQL.
_database_url = env_str("DATABASE_URL")
if _database_url:
    if not _database_url.startswith(("postgres://", "postgresql://", "sqlite://")):
        raise ConfigError("DATABASE_URL must be a postgres:// or sqlite:// URL")
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "baoxue.sqlite3"),
            "OPTIONS": {
                # WAL lets the web server read while the task worker writes; IMMEDIATE
                # transactions take the write lock up front instead of failing mid-way with
                # "database is locked" when two writers meet.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA busy_timeout=20000;"
                    "PRAGMA cache_size=-64000;"
                    "PRAGMA case_sensitive_like=ON;"
                ),
            },
            "TEST": {"NAME": env_str("BAOXUE_TEST_SQLITE_NAME") or None},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts and security ------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Argon2 is deliberately slow; tests create hundreds of users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    # Username, display name and unit: a password that resembles them is refused.
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("username", "display_name", "unit", "email", "phone")},
    },
    {
        "NAME": "baoxue.accounts.validators.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "registry:start"
LOGOUT_REDIRECT_URL = "accounts:login"

SESSION_COOKIE_AGE = env_int("BAOXUE_SESSION_MINUTES", 120, minimum=5) * 60
# Idle timeout: SessionRefreshMiddleware restarts the clock at most every few minutes, rather
# than writing the session on every request (on SQLite each write takes the database lock).
SESSION_SAVE_EVERY_REQUEST = False
BAOXUE_SESSION_REFRESH_SECONDS = 300
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("BAOXUE_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
# Behind nginx: trust its X-Forwarded-Proto for HTTPS and X-Forwarded-For for the client
# address in the audit log and the login lockout. Only set this when a proxy is in front,
# or clients could forge their address.
BEHIND_PROXY = env_bool("BAOXUE_BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
SECURE_CONTENT_TYPE_NOSNIFF = True
# Content-Security-Policy (django-csp 4): pages load scripts, styles, fonts and images from this
# site only and have no inline script or style attribute (static/baoxue/baoxue.js replaces the
# onsubmit/onchange handlers). img-src allows data: for the small SVG icons inside bootstrap.css
# (select arrows, close buttons). See docs/deployment.md.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
# Two-step login (TOTP, django-otp) for accounts that see a whole township or county, and for
# administrators. Off by default (the demo and the tests); recommended on in production.
BAOXUE_REQUIRE_TOTP = env_bool("BAOXUE_REQUIRE_TOTP", False)
OTP_TOTP_ISSUER = env_str("BAOXUE_TOTP_ISSUER", "保学")
SECURE_REFERRER_POLICY = "same-origin"

AXES_FAILURE_LIMIT = env_int("BAOXUE_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("BAOXUE_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

# --- Field encryption -----------------------------------------------------------------------
# AES-GCM key for ID numbers: BAOXUE_FIELD_KEY (base64, 32 bytes) or DATA_DIR/keys/field.key.
BAOXUE_FIELD_KEY = env_str("BAOXUE_FIELD_KEY")

# --- Policy settings (DESIGN.md §3) ---------------------------------------------------------
BAOXUE_AGE_CUTOFF_MONTH = env_int("BAOXUE_AGE_CUTOFF_MONTH", 8, minimum=1)
BAOXUE_AGE_CUTOFF_DAY = env_int("BAOXUE_AGE_CUTOFF_DAY", 31, minimum=1)
BAOXUE_COMPULSORY_MIN_AGE = env_int("BAOXUE_COMPULSORY_MIN_AGE", 6, minimum=0)
BAOXUE_COMPULSORY_MAX_AGE = env_int("BAOXUE_COMPULSORY_MAX_AGE", 15, minimum=0)
# Attendance: this many consecutive days absent without leave is a suspected dropout signal
# (provinces differ).
BAOXUE_ABSENCE_ALERT_DAYS = env_int("BAOXUE_ABSENCE_ALERT_DAYS", 3, minimum=1)
# A month's statistics (a total, no runs): this many days absent without leave, or half of
# the month's school days when the report gives them, is a suspected dropout too.
BAOXUE_ABSENCE_ALERT_MONTH_DAYS = env_int("BAOXUE_ABSENCE_ALERT_MONTH_DAYS", 10, minimum=1)
# 双线四包: the names of the four levels on each line, and the levels a case must have a
# named person on (on both lines) before it leaves "confirmed".
BAOXUE_GOVERNMENT_LEVELS = env_list(
    "BAOXUE_GOVERNMENT_LEVELS", ["县领导包乡镇", "乡镇干部包村", "村干部包组", "组长或帮扶人包户"]
)
BAOXUE_EDUCATION_LEVELS = env_list(
    "BAOXUE_EDUCATION_LEVELS", ["教育局包学校", "校长包年级", "班主任包班", "教师包学生"]
)
BAOXUE_CASE_REQUIRED_LEVELS = [
    env_int_item("BAOXUE_CASE_REQUIRED_LEVELS", item, minimum=1, maximum=4)
    for item in env_list("BAOXUE_CASE_REQUIRED_LEVELS", ["1", "2", "3", "4"])
]
# Follow-up of a returned student: every N days for the first M months, then monthly to the
# end of the term; terms end on these month-day dates.
BAOXUE_FOLLOW_UP_DAYS = env_int("BAOXUE_FOLLOW_UP_DAYS", 14, minimum=1)
BAOXUE_FOLLOW_UP_INTENSIVE_MONTHS = env_int("BAOXUE_FOLLOW_UP_INTENSIVE_MONTHS", 3, minimum=0)
BAOXUE_TERM_ENDS = env_list("BAOXUE_TERM_ENDS", ["01-31", "07-15"])
# A follow-up may be recorded at the earliest this many days before it is due (a visit a
# fortnight early is not the check the schedule asks for).
BAOXUE_FOLLOW_UP_EARLY_DAYS = env_int("BAOXUE_FOLLOW_UP_EARLY_DAYS", 3, minimum=0)
# When a case opens, these levels are filled from the accounts that hold the matching role
# where the case is: "village" (the village's cadre), "school" (the school's principal),
# "teacher" (the child's class teacher). "line:level:role" items.
BAOXUE_CASE_DEFAULT_PEOPLE = env_list(
    "BAOXUE_CASE_DEFAULT_PEOPLE",
    ["government:3:village", "education:2:school", "education:3:teacher"],
)
# A case whose child moved to another village or school (a roster, a 学籍) follows the child;
# the place it left keeps reading it (not working it) for this many days, until someone of
# the new place is named on it.
BAOXUE_CASE_MOVE_GRACE_DAYS = env_int("BAOXUE_CASE_MOVE_GRACE_DAYS", 30, minimum=0)
# Children who aged out of compulsory education (past BAOXUE_COMPULSORY_MAX_AGE on the cut-off
# date) this many years ago, with no open case, are archived by the sweep: their ID numbers,
# guardians, addresses, names and case attachments are wiped (cases.retention). 0: never.
BAOXUE_ARCHIVE_AFTER_YEARS = env_int("BAOXUE_ARCHIVE_AFTER_YEARS", 3, minimum=0)
# Bulk assignment from the case list touches at most this many cases at once.
BAOXUE_BULK_ASSIGN_CAP = env_int("BAOXUE_BULK_ASSIGN_CAP", 500, minimum=1)
# Attachments (photos, scans) larger than this are refused.
BAOXUE_ATTACHMENT_MAX_MB = env_int("BAOXUE_ATTACHMENT_MAX_MB", 10, minimum=1)
# Lists count at most this many rows ("more than N, narrow the search").
BAOXUE_LIST_COUNT_CAP = env_int("BAOXUE_LIST_COUNT_CAP", 10_000, minimum=100)
# Imports: a file beyond these is refused while it is read, before anything of it is kept
# (`baoxue import` may raise them by flags). The largest real list, a 200,000-row national
# 学籍 export of 70 columns, unpacks to about 800 MB (about 150 MB as CSV); a zip bomb packs
# 1000:1, a real sheet's XML 5-50:1.
BAOXUE_IMPORT_MAX_ROWS = env_int("BAOXUE_IMPORT_MAX_ROWS", 500_000, minimum=1)
BAOXUE_IMPORT_MAX_UNPACKED_MB = env_int("BAOXUE_IMPORT_MAX_UNPACKED_MB", 2048, minimum=1)
BAOXUE_IMPORT_MAX_RATIO = env_int("BAOXUE_IMPORT_MAX_RATIO", 200, minimum=10)
BAOXUE_IMPORT_MAX_CSV_MB = env_int("BAOXUE_IMPORT_MAX_CSV_MB", 300, minimum=1)
# A file uploaded through the pages (a county's national 学籍 export of 200,000 rows is about
# 100 MB as xlsx); the reverse proxy's client_max_body_size must allow it too.
BAOXUE_IMPORT_MAX_UPLOAD_MB = env_int("BAOXUE_IMPORT_MAX_UPLOAD_MB", 200, minimum=1)
# A user who may not reveal ID numbers (the 残联) cannot validate files that, together with
# theirs of the last BAOXUE_IMPORT_PROBE_DAYS, give more than this many different numbers of
# one region and birth date: trying the ~500 numbers a mask leaves, one preview at a time.
BAOXUE_IMPORT_PROBE_LIMIT = env_int("BAOXUE_IMPORT_PROBE_LIMIT", 10, minimum=1)
BAOXUE_IMPORT_PROBE_DAYS = env_int("BAOXUE_IMPORT_PROBE_DAYS", 30, minimum=1)

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("BAOXUE_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files --------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("BAOXUE_STATIC_ROOT", DATA_DIR / "static")
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
_s3_bucket = env_str("BAOXUE_S3_BUCKET")
STORAGES: dict[str, dict[str, object]] = {
    # Every stored file (uploaded sources, exports, attachments) encrypted with the field key.
    "default": {"BACKEND": "baoxue.core.storage.EncryptedFileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if TESTING or DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
if _s3_bucket:
    # Uploaded files on S3-compatible storage (MinIO, OSS, COS) by configuration alone;
    # needs the `s3` extra (django-storages[s3]).
    STORAGES["default"] = {
        "BACKEND": "baoxue.core.storage.EncryptedS3Storage",
        "OPTIONS": {
            "bucket_name": _s3_bucket,
            "endpoint_url": env_str("BAOXUE_S3_ENDPOINT_URL") or None,
            "access_key": env_str("BAOXUE_S3_ACCESS_KEY") or None,
            "secret_key": env_str("BAOXUE_S3_SECRET_KEY") or None,
            "region_name": env_str("BAOXUE_S3_REGION") or None,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
WHITENOISE_USE_FINDERS = TESTING or DEBUG

# --- Background tasks -----------------------------------------------------------------------
# A database-backed queue by default (no broker to run); RQ on Redis by configuration.
TASKS = {
    "default": {
        "BACKEND": env_str("BAOXUE_TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}
if TESTING:
    TASKS["default"]["BACKEND"] = "django_tasks.backends.immediate.ImmediateBackend"

# A file cache in the data dir by default: the web server and the task worker are separate
# processes and share import progress through it. Redis for several machines.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "cache"),
    }
}
if TESTING:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if env_str("BAOXUE_REDIS_URL"):
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("BAOXUE_REDIS_URL"),
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "baoxue": {"handlers": ["console"], "level": env_str("BAOXUE_LOG_LEVEL", "INFO")},
        "django.request": {"handlers": ["console"], "level": "ERROR"},
    },
}
