//! Snapshots: the compiled tables as one versioned, checksummed binary file.
