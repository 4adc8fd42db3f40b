"""The Runs screens: the run table (``table_model`` + ``table``) and a run's page (``detail_model`` + ``detail``)."""
