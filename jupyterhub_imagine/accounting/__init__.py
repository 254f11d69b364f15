"""Usage accounting: session records written by the hub, reports, exports and an admin page."""
