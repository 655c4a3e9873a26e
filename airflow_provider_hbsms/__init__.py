"""Apache Airflow provider for the HB SMS HTTP gateway (protocol V2.0.0)."""

__version__ = "0.1.0"
