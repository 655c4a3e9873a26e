"""The campaign engine behind the send operators: inputs, row validation, batching, the send
window, cost, and exactly-once sending through the ledger. No Airflow imports."""
