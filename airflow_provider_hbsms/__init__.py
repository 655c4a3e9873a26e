"""Apache Airflow provider for the HB SMS HTTP gateway (protocol V2.0.0).

The package root holds the exceptions (``from airflow_provider_hbsms import
SendOutcomeUnknownError``; the tree is drawn in ``airflow_provider_hbsms.exceptions``). Importing
it loads neither Airflow nor an HTTP library.
"""

from airflow_provider_hbsms import exceptions as _exceptions
from airflow_provider_hbsms.exceptions import *  # noqa: F403 (every name of its __all__)

__version__ = "0.1.0"

#: The public exceptions, as ``airflow_provider_hbsms.exceptions`` lists them.
__all__: list[str] = []
__all__ += _exceptions.__all__
