"""The campaign view: a page in the Airflow UI and a report file with the same charts."""
