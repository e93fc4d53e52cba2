import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baoxue.settings")
application = get_wsgi_application()

# Load the URLs, views and templates' modules now, then move everything loaded so far out of
# the garbage collector's sight: a full collection otherwise walks every object of the
# application on each pass (about 0.2 s per pass on a township's old PC; measured by
# bench/cases_scale.py as the p95 of the busiest pages), though none of it will ever be
# garbage. Gunicorn with --preload shares these pages between its workers after fork too.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018 - imports every view module
gc.freeze()
