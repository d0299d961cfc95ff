"""Governance: the audit log, search policy, roles, retention, transparency and equity reports.

``audit`` (hash-chained, append-only log), ``policy`` (no search without a user,
reason and case number), ``roles`` (one roles file for API and dashboards),
``retention`` (purges by policy with legal holds), ``transparency`` and
``equity`` (reports for an oversight board). Import the submodules; this
package imports nothing heavy.
"""
