"""Drives a simulated Redfish BMC with sushy, OpenStack Ironic's Redfish
client, for simredfish's tests. It reads a batch of steps as JSON on stdin
(credentials included: never argv or the environment) and prints their
results as a JSON list, one object per step.

stdin: {"url": BASE_URL, "ca": CA_FILE,
        "steps": [{"step": NAME, "args": [...], "user": U, "password": P,
                   "new_password": NEW}]}
"account-password" and "account-disable" take the URI of an account, or
"$created" for the one the batch's last "account-create" made.
"""
import json
import sys

import sushy
from sushy import auth as sushy_auth
from sushy import exceptions

ACCOUNTS = '/redfish/v1/AccountService/Accounts'


def system(root):
    return root.get_system(root.get_system_collection().members_identities[0])


def boot(root):
    s = system(root)
    return {'power': s.power_state.value,
            'target': s.boot.target.value if s.boot.target else None,
            'enabled': s.boot.enabled.value if s.boot.enabled else None,
            'mode': s.boot.mode.value if s.boot.mode else None}


def login(url, ca, user, password):
    """Logs in with a session only (no Basic fallback) and out again."""
    try:
        root = sushy.Sushy(url, verify=ca, auth=sushy_auth.SessionAuth(username=user, password=password))
        out = {'ok': True, 'power': system(root).power_state.value,
               'session': root._auth.get_session_resource_id()}
        root._auth.close()
    except exceptions.AccessError as e:
        out = {'ok': False, 'status': e.status_code}
    return out


def step(root, s, state):
    name, args = s['step'], s.get('args', [])
    if name in ('power-on', 'power-off', 'restart'):
        value = {'power-on': sushy.ResetType.ON, 'power-off': sushy.ResetType.FORCE_OFF,
                 'restart': sushy.ResetType.FORCE_RESTART}[name]
        system(root).reset_system(value)
        return boot(root)
    if name == 'boot-once-pxe':
        system(root).set_system_boot_options(sushy.BootSource.PXE, enabled=sushy.BootSourceOverrideEnabled.ONCE,
                                             mode=sushy.BootSourceOverrideMode.UEFI)
        return boot(root)
    if name == 'boot-persistent-hdd':
        system(root).set_system_boot_options(sushy.BootSource.HDD,
                                             enabled=sushy.BootSourceOverrideEnabled.CONTINUOUS)
        return boot(root)
    if name == 'boot-legacy':
        system(root).set_system_boot_options(mode=sushy.BootSourceOverrideMode.LEGACY)
        return boot(root)
    if name == 'boot':
        return boot(root)
    conn = root._conn  # sushy 4.3 has no AccountService model: raw calls over its session
    if name == 'account-create':
        r = conn.post(ACCOUNTS, data={'UserName': args[0], 'Password': s['new_password'],
                                      'RoleId': args[1], 'Enabled': True})
        state['created'] = r.headers.get('Location')
        return {'status': r.status_code, 'location': state['created']}
    if name in ('account-password', 'account-disable'):
        uri = state.get('created') if args[0] == '$created' else args[0]
        etag = conn.get(uri).headers.get('ETag')
        data = {'Password': s['new_password']} if name == 'account-password' else {'Enabled': False}
        r = conn.patch(uri, data=data, etag=etag)
        return {'status': r.status_code, 'enabled': conn.get(uri).json()['Enabled']}
    raise SystemExit('unknown step ' + name)


def main():
    batch = json.load(sys.stdin)
    url, ca = batch['url'], batch['ca']
    roots, state, results = {}, {}, []
    for s in batch['steps']:
        if s['step'] == 'login':
            results.append(login(url, ca, s['user'], s['password']))
            continue
        key = (s['user'], s['password'])
        if key not in roots:
            roots[key] = sushy.Sushy(url, username=s['user'], password=s['password'], verify=ca)
        results.append(step(roots[key], s, state))
    print(json.dumps(results))


if __name__ == '__main__':
    main()
