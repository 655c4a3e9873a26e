"""A faithful stand-in for the HB SMS gateway, with fault injection, for tests and demos."""

from airflow_provider_hbsms.simulator.accounts import ReceivedMessage
from airflow_provider_hbsms.simulator.config import SimAccount, SimulatorConfig
from airflow_provider_hbsms.simulator.faults import FAULT_KINDS, Fault
from airflow_provider_hbsms.simulator.process import SimulatorProcess
from airflow_provider_hbsms.simulator.pusher import PushAttempt
from airflow_provider_hbsms.simulator.server import GatewaySimulator

__all__ = [
    "FAULT_KINDS",
    "Fault",
    "GatewaySimulator",
    "PushAttempt",
    "ReceivedMessage",
    "SimAccount",
    "SimulatorConfig",
    "SimulatorProcess",
]
