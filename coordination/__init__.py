"""Prefect coordination: what a flow run needs around its tasks, none of it a task itself.

A deleting run's bookkeeping and durable audit (`deletion_run`), one run per storage
(`exclusive`), project slots on renewed leases (`slots`), registry request limits leased in bulk
(`registry_slots`, `registry_shares`), heartbeats and the automations that end dead runs
(`heartbeats`, `silent_runs`, `automations`), deletion progress (`progress`), task caching and
retries (`task_options`) and the adapters a run's settings name (`adapters_from_settings`).

`flows/` and `tasks/` import this package; it imports neither.
"""
