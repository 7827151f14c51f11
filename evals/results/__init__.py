"""What runs write and what is read back: item records, run folders, item metric values, leaderboards, comparisons."""
