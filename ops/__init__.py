"""Operations command line: plan, deploy, status, rollback, redeploy, game day (`python -m ops --help`)."""
