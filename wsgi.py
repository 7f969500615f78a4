"""WSGI entry point for production servers, e.g. ``waitress-serve --call portal:create_app`` or
``gunicorn -k gthread --threads 32 wsgi:app``."""

from portal import create_app

app = create_app()
