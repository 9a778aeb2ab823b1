"""gunicorn settings for a deployment that runs gunicorn itself (the Dockerfile, compose,
the systemd unit, the Procfile):

    gunicorn -c deploy/gunicorn.conf.py 'connector.wsgi:create_app(run_worker=False)'

The values live in one place, `connector.gunicorn_conf` (the ones `caspio-stripe serve`
uses); this file only loads them, so the two never drift apart. They fit 2 cores: a bounded
pool of threads per gunicorn process for the web side (requests are short: verify, commit,
answer), one process on SQLite and two on PostgreSQL (measured: `bench/intake.py`), and the
`caspio-stripe worker` process(es) beside it. Override here,
on the command line (`--bind 0.0.0.0:8000`, which beats this file) or with `PORT` and
`WEB_CONCURRENCY` (processes) in the environment.
"""

from connector.gunicorn_conf import *  # noqa: F403  (gunicorn reads module-level names)
