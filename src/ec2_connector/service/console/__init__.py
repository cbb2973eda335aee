"""The web console at /console: server-rendered pages over the service's own Call and
Access, a session cookie signed in with a principal's token, and two packaged files of
our own (static/console.css, static/console.js); nothing is loaded from elsewhere.

    html.py      HTML from Python values, escaped unless built here
    sessions.py  sessions, CSRF tokens, one-time confirmations
    results.py   the jobs list, a job's page, an envelope's results
    pages.py     sign-in, the catalog, run forms, confirmations, me
    runs.py      a run: the API's gate, a dry run first, then a job
    routes.py    the routes
"""

from .routes import console_routes

__all__ = ["console_routes"]
