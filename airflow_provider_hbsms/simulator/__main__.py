"""``python -m airflow_provider_hbsms.simulator``: same as ``hbsms-simulator``."""

import sys

from airflow_provider_hbsms.simulator.cli import main

sys.exit(main())
