"""pytest settings for the end-to-end suite (e2e/test_e2e.py)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slow: a long end-to-end test (a 200 MB upload); it runs by default, `-m 'not slow'` skips it",
    )
