"""Drives a simulated Redfish BMC with sushy, OpenStack Ironic's Redfish
client, for simredfish's tests: one step per run, its result as one JSON
object on stdout. Credentials come from the environment, never argv.

usage: sushy_client.py BASE_URL CA_FILE STEP [ARG...]
env:   RF_USER, RF_PASSWORD: who runs the step;
       RF_NEW_PASSWORD: the password an account step sets;
       RF_LOGIN_USER, RF_LOGIN_PASSWORD: the credentials "login" tries.
"""
import json
import os
import sys

import sushy
from sushy import auth as sushy_auth
from sushy import exceptions

ACCOUNTS = '/redfish/v1/AccountService/Accounts'


def connect(url, ca, user, password, session_only=False):
    if session_only:
        return sushy.Sushy(url, verify=ca, auth=sushy_auth.SessionAuth(username=user, password=password))
    return sushy.Sushy(url, username=user, password=password, verify=ca)


def system(root):
    return root.get_system(root.get_system_collection().members_identities[0])


def boot(root):
    s = system(root)
    return {'power': s.power_state.value,
            'target': s.boot.target.value if s.boot.target else None,
            'enabled': s.boot.enabled.value if s.boot.enabled else None,
            'mode': s.boot.mode.value if s.boot.mode else None}


def step(root, name, args):
    env = os.environ
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
        r = conn.post(ACCOUNTS, data={'UserName': args[0], 'Password': env['RF_NEW_PASSWORD'],
                                      'RoleId': args[1], 'Enabled': True})
        return {'status': r.status_code, 'location': r.headers.get('Location')}
    if name in ('account-password', 'account-disable'):
        uri = args[0]
        etag = conn.get(uri).headers.get('ETag')
        data = {'Password': env['RF_NEW_PASSWORD']} if name == 'account-password' else {'Enabled': False}
        r = conn.patch(uri, data=data, etag=etag)
        return {'status': r.status_code, 'enabled': conn.get(uri).json()['Enabled']}
    raise SystemExit('unknown step ' + name)


def main():
    url, ca, name, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    env = os.environ
    if name == 'login':
        try:
            root = connect(url, ca, env['RF_LOGIN_USER'], env['RF_LOGIN_PASSWORD'], session_only=True)
            out = {'ok': True, 'power': system(root).power_state.value,
                   'session': root._auth.get_session_resource_id()}
            root._auth.close()
        except exceptions.AccessError as e:
            out = {'ok': False, 'status': e.status_code}
        print(json.dumps(out))
        return
    root = connect(url, ca, env['RF_USER'], env['RF_PASSWORD'])
    print(json.dumps(step(root, name, args)))


if __name__ == '__main__':
    main()
