"""`xcache sentinel`: Redis-Sentinel-compatible monitoring and failover with stall-aware health."""
