"""A Caspio REST API client usable on its own: auth, records, safe WHERE, retries, metering."""

from . import where
from .client import CaspioClient
from .errors import (
    CaspioAlreadyExists,
    CaspioAuthError,
    CaspioBadRequest,
    CaspioConnectionError,
    CaspioError,
    CaspioNotFound,
    CaspioRateLimited,
    CaspioServerError,
)
from .metering import CallMeter
from .where import Where

__all__ = [
    "CallMeter",
    "CaspioAlreadyExists",
    "CaspioAuthError",
    "CaspioBadRequest",
    "CaspioClient",
    "CaspioConnectionError",
    "CaspioError",
    "CaspioNotFound",
    "CaspioRateLimited",
    "CaspioServerError",
    "Where",
    "where",
]
