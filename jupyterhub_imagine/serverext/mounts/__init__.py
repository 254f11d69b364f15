"""Remote data mounts (rclone over FUSE, OneData)."""
