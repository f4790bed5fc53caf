import time, pytest, threading
@pytest.mark.timeout(2)
def test_hang():
    time.sleep(100)
@pytest.mark.timeout(2)
def test_hang_psycopg(pooler):
    with pooler.connect() as c:
        c.execute("SELECT pg_sleep(100)")
@pytest.mark.timeout(2)
def test_hang_join():
    t = threading.Thread(target=time.sleep, args=(100,), daemon=True); t.start(); t.join()
