"""Stateful, vendor-faithful Redfish BMC simulator for the reforge.hci lab.

One process serves a fleet of BMCs (one HTTPS port each); see README.md.
"""
