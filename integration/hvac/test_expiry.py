"""A lease ends by itself: the account is destroyed at expiry with no request to the server."""

import time

from harness import issue, wait_until


def test_role_is_dropped_at_expiry_without_any_request(client, pg, make_role):
    role = make_role(default_ttl="2s", max_ttl="10s")
    creds = issue(client, role)
    issued = time.time()
    assert creds.lease_duration == 2
    assert pg.can_login(creds.username, creds.password)

    # From here on only PostgreSQL is asked: nothing reaches leasehold.
    wait_until(lambda: not pg.role_exists(creds.username), 15, f"role {creds.username} is dropped",
               interval=0.05)
    overstay = time.time() - (issued + creds.lease_duration)
    # The target is 1 s after expiry; allow slack for a loaded CI machine.
    assert overstay < 3, f"role outlived its lease by {overstay:.1f}s"
    assert not pg.can_login(creds.username, creds.password)


def test_a_renewed_lease_outlives_its_first_expiry(client, pg, make_role):
    role = make_role(default_ttl="2s", max_ttl="1m")
    creds = issue(client, role)
    client.sys.renew_lease(creds.lease_id, increment=8)
    time.sleep(4)  # past the original 2 s expiry
    assert pg.can_login(creds.username, creds.password)
    client.sys.revoke_lease(creds.lease_id)
    assert not pg.role_exists(creds.username)
