"""Publishing from CI: a GitHub Actions workflow and the script it calls."""
