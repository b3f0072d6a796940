"""Django settings for Communis, read from the environment with safe embedded defaults.

Nothing here needs configuring for the embedded demo: SQLite in WAL mode under ./var/, the
in-memory channel layer and one daphne process.  Production sets DATABASE_URL, REDIS_URL,
SECRET_KEY, ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS (see README, "Operations").
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("COMMUNIS_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    """Read a yes/no environment variable."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """Read an integer environment variable."""
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated environment variable."""
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _embedded_secret_key() -> str:
    """Return a per-installation secret kept in ./var, so the demo needs no configuration."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or _embedded_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "chatserver",
    "rooms",
    "presence",
    "statusfeed",
    "moderation",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "chatserver.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatserver.urls"
ASGI_APPLICATION = "chatserver.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
_SQLITE_PATH = VAR_DIR / "communis.sqlite3"
_RUNNING_TESTS = "pytest" in sys.modules or sys.argv[1:2] == ["test"]
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{_SQLITE_PATH}",
        # Channels runs a process's database work on one thread, so this keeps one connection
        # per process open instead of opening and closing one per call (measured: 2-4x on
        # connect storms and sends; docs/performance.md).  Health checks catch a dead one.
        # A test process keeps 0: its worker threads' persistent connections would stop
        # PostgreSQL from dropping the test database (the servers it spawns use 600).
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0 if _RUNNING_TESTS else 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Health checks only after the connection sat idle (chatserver/db/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "chatserver.db.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the websocket readers run while a writer commits; the busy timeout makes
    # concurrent writers wait instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# Parallel test runs on one machine keep apart with COMMUNIS_TEST_DB_SUFFIX.
_TEST_SUFFIX = os.environ.get("COMMUNIS_TEST_DB_SUFFIX", "")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test{_TEST_SUFFIX}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}{_TEST_SUFFIX}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels -------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
REDIS_PREFIX = os.environ.get("REDIS_PREFIX", "communis")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": os.environ.get(
                "CHANNEL_LAYER_BACKEND", "channels_redis.pubsub.RedisPubSubChannelLayer"
            ),
            "CONFIG": {
                # A bounded pool: the pub/sub layer serialises its commands on one lock and
                # needs two connections (one subscriber, one publisher); the bound keeps a
                # misconfigured layer from opening one connection per socket in a reconnect
                # storm (docs/performance.md, "Mass reconnects").
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": env_int("REDIS_LAYER_MAX_CONNECTIONS", 8),
                    }
                ],
                "prefix": f"{REDIS_PREFIX}:layer",
            },
        }
    }
else:
    # Channels' in-memory layer without its O(sockets) sweep on every receive (see the class).
    CHANNEL_LAYERS = {"default": {"BACKEND": "chatserver.realtime.hub.InMemoryChannelLayer"}}

# --- Auth, sessions, security ---------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:app"
LOGOUT_REDIRECT_URL = "web:login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- I18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("sv", "Svenska")]
LOCALE_PATHS = [BASE_DIR / "chatserver" / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Stockholm")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"

# --- REST -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "chatserver.errors.rest_exception_handler",
    # Per-process limits on the REST paths that cost the most or guard secrets.
    "DEFAULT_THROTTLE_CLASSES": ["chatserver.throttling.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "auth": os.environ.get("COMMUNIS_AUTH_RATE", "30/min"),
        "send": os.environ.get("COMMUNIS_REST_SEND_RATE", "600/min"),
        "write": os.environ.get("COMMUNIS_REST_WRITE_RATE", "600/min"),
    },
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Communis API",
    "DESCRIPTION": "REST side of Communis. The live side is the websocket at /ws/, "
    "documented in docs/protocol.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "chatserver.api.document_error_responses",
    ],
}

# --- Limits (all tunable from the environment) ----------------------------------------------
COMMUNIS = {
    "MAX_FRAME_BYTES": env_int("COMMUNIS_MAX_FRAME_BYTES", 64 * 1024),
    "MAX_MESSAGE_LENGTH": env_int("COMMUNIS_MAX_MESSAGE_LENGTH", 10_000),
    "SEND_RATE": env_int("COMMUNIS_SEND_RATE", 10),  # sustained frames per second
    "SEND_BURST": env_int("COMMUNIS_SEND_BURST", 40),
    "REPLAY_LIMIT": env_int("COMMUNIS_REPLAY_LIMIT", 500),
    "HISTORY_PAGE_MAX": env_int("COMMUNIS_HISTORY_PAGE_MAX", 100),
    "IDLE_TIMEOUT": env_int("COMMUNIS_IDLE_TIMEOUT", 90),  # seconds without any frame
    "HEARTBEAT_INTERVAL": env_int("COMMUNIS_HEARTBEAT_INTERVAL", 25),
    "GAP_REPAIR_DELAY": float(os.environ.get("COMMUNIS_GAP_REPAIR_DELAY", "0.2")),
    "MAX_ROOM_NAME": 80,
    "MAX_ROOM_TOPIC": 250,
    # Slow readers (docs/performance.md, "Slow clients"): frames a socket may have waiting for
    # the network before ephemeral events are dropped, and bytes before it is closed (4429) so
    # it resumes from the database instead of growing the server's memory.
    "SEND_QUEUE_LIMIT": env_int("COMMUNIS_SEND_QUEUE_LIMIT", 1000),
    "SEND_BUFFER_SOFT_BYTES": env_int("COMMUNIS_SEND_BUFFER_SOFT_BYTES", 256 * 1024),
    "SEND_BUFFER_LIMIT_BYTES": env_int("COMMUNIS_SEND_BUFFER_LIMIT_BYTES", 1024 * 1024),
}
# Not a wire limit: how soon CPython hands the GIL to the database thread, in seconds (its
# default is 0.005; 0 leaves it).  See chatserver/realtime/hub.py.
COMMUNIS_GIL_SWITCH_INTERVAL = float(os.environ.get("COMMUNIS_GIL_SWITCH_INTERVAL", "0.0005"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {
        "communis": {"level": os.environ.get("LOG_LEVEL", "INFO")},
        "daphne": {"level": "WARNING"},
    },
}
SPECTACULAR_SETTINGS.update(
    {
        # Served from our own static files: no CDN (air-gapped installs) and CSP stays strict.
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
    }
)

# Serve /static/ from the application itself (embedded mode); production puts nginx in front.
COMMUNIS_SERVE_STATIC = env_bool("COMMUNIS_SERVE_STATIC", True)
