"""Bad values fail at render time (helm template, hence helm install) with a message naming the
value to fix: the schema for our keys, _checks.tpl for what a schema cannot say."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.helm.chart import render_error, write_values
from tests.helm.conftest import REQUIRED

pytestmark = pytest.mark.fake


def with_required(**sections: Any) -> dict[str, Any]:
    """REQUIRED, deep-merged with ``sections``; a None leaf deletes the key."""
    values = copy.deepcopy(REQUIRED)

    def merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
        for k, v in extra.items():
            if v is None:
                into.pop(k, None)
            elif isinstance(v, dict) and isinstance(into.get(k), dict):
                merge(into[k], v)
            else:
                into[k] = v

    merge(values, sections)
    return values


SCHEMA_CASES = {
    "typo in a key": ({"imagine": {"cvmfs": {"enabeld": True}}}, ["/imagine/cvmfs", "enabeld"]),
    "typo at the top": ({"imagin": {"cvmfs": {"enabled": True}}}, ["imagin"]),
    "typo deep down": (
        {"imagine": {"culler": {"endpoints": {"netwrokPolicy": True}}}},
        ["/imagine/culler/endpoints", "netwrokPolicy"],
    ),
    "the culler port in our values (it lives in hub.service.extraPorts)": (
        {"imagine": {"culler": {"endpoints": {"port": 10102}}}},
        ["/imagine/culler/endpoints", "port"],
    ),
    "string for a boolean": ({"imagine": {"rbac": {"create": "yes"}}}, ["/imagine/rbac/create"]),
    "string for a boolean deep down": (
        {"imagine": {"culler": {"endpoints": {"networkPolicy": "yes"}}}},
        ["/imagine/culler/endpoints/networkPolicy"],
    ),
    "invalid label name": (
        {"imagine": {"culler": {"endpoints": {"proxyPodLabels": {"not a label!": "x"}}}}},
        ["not a label!", "does not match pattern"],  # helm names the label, not its path
    ),
    "invalid object name": (
        {"imagine": {"cvmfs": {"pvc": {"name": "CVMFS_Claim"}}}},
        ["/imagine/cvmfs/pvc/name"],
    ),
    "a typo in the links settings": (
        {"jupyterhub": {"hub": {"config": {"ImagineLinks": {"allowed_host": ["github.com"]}}}}},
        ["/jupyterhub/hub/config/ImagineLinks", "allowed_host"],
    ),
    "a URL where links want a host": (
        {"jupyterhub": {"hub": {"config": {"ImagineLinks": {"allowed_hosts": ["https://x.org"]}}}}},
        ["/jupyterhub/hub/config/ImagineLinks/allowed_hosts/0"],
    ),
    "list for a mapping": (
        {"imagine": {"cvmfs": {"storageClass": {"parameters": ["a"]}}}},
        ["/imagine/cvmfs/storageClass/parameters"],
    ),
    # profiles: the package's profile_list schema, carried by the chart
    "GPU count as text": (
        {"jupyterhub": {"singleuser": {"profileList": [{"display_name": "A",
                                                         "gpu": {"count": "2"}}]}}},
        ["/jupyterhub/singleuser/profileList/0/gpu/count", "want integer"],
    ),
    "typo in a profile key": (
        {"jupyterhub": {"singleuser": {"profileList": [{"display_name": "A",
                                                         "kubespawner_overide": {}}]}}},
        ["/jupyterhub/singleuser/profileList/0", "kubespawner_overide"],
    ),
    "MIG resource misspelt": (
        {"jupyterhub": {"singleuser": {"profileList": [{"display_name": "A",
                                                         "gpu": {"mig": "1g.10gb"}}]}}},
        ["/jupyterhub/singleuser/profileList/0/gpu/mig", "1g.10gb"],
    ),
    "profile without a name": (
        {"jupyterhub": {"singleuser": {"profileList": [{"slug": "a"}]}}},
        ["/jupyterhub/singleuser/profileList/0", "display_name"],
    ),
}

CVMFS_WIRED = {
    "singleuser": {
        "storage": {
            "extraVolumes": [
                {"name": "cvmfs", "persistentVolumeClaim": {"claimName": "cvmfs", "readOnly": True}}
            ],
            "extraVolumeMounts": [
                {"name": "cvmfs", "mountPath": "/cvmfs", "readOnly": True,
                 "mountPropagation": "HostToContainer"}
            ],
        }
    }
}

SECRET = "jupyterhub.hub.extraEnv.OAUTH_CLIENT_SECRET.valueFrom.secretKeyRef.name is required"

CHECK_CASES = {
    "a service token in values": (
        {"jupyterhub": {"hub": {"services": {"imagine-culler": {"apiToken": "00" * 32}}}}},
        "jupyterhub.hub.services.imagine-culler.apiToken must not be set in values",
    ),
    "no culler port": (
        {"jupyterhub": {"hub": {"service": {"extraPorts": []}}}},
        "jupyterhub.hub.service.extraPorts needs one entry named imagine-culler",
    ),
    "autohttps-less TLS at the proxy without a servers URL": (
        {"jupyterhub": {"proxy": {"https": {"enabled": True, "type": "manual"}}}},
        "environment.JUPYTERHUB_IMAGINE_SERVERS_URL to a URL of the proxy",
    ),
    "an existing StorageClass without its name": (
        {"imagine": {"cvmfs": {"enabled": True, "storageClass": {"create": False}}},
         "jupyterhub": CVMFS_WIRED},
        "imagine.cvmfs.storageClass.name is required when storageClass.create is false",
    ),
    "no client secret Secret": (
        {
            "jupyterhub": {
                "hub": {
                    "extraEnv": {
                        "OAUTH_CLIENT_SECRET": {"valueFrom": {"secretKeyRef": {"name": ""}}}
                    }
                }
            }
        },
        SECRET,
    ),
    "client secret as a plain value": (
        {"jupyterhub": {"hub": {"extraEnv": {"OAUTH_CLIENT_SECRET": "s3cret"}}}},
        SECRET,
    ),
    "client secret in a list-form extraEnv without a ref": (
        {"jupyterhub": {"hub": {"extraEnv": [{"name": "OAUTH_CLIENT_SECRET", "value": "s3cret"}]}}},
        SECRET,
    ),
    "client secret in hub.config": (
        {"jupyterhub": {"hub": {"config": {"ImagineOAuthenticator": {"client_secret": "s3cret"}}}}},
        "jupyterhub.hub.config.ImagineOAuthenticator.client_secret must not be set in values",
    ),
    "crypt key in hub.config": (
        {"jupyterhub": {"hub": {"config": {"CryptKeeper": {"keys": ["00" * 32]}}}}},
        "jupyterhub.hub.config.CryptKeeper.keys must not be set in values",
    ),
    "Z2JH's hub image": (
        {"jupyterhub": {"hub": {"image": {"name": "quay.io/jupyterhub/k8s-hub"}}}},
        "jupyterhub.hub.image.name is required",
    ),
    "no hub image tag": (
        {"jupyterhub": {"hub": {"image": {"tag": ""}}}},
        "jupyterhub.hub.image.tag is required",
    ),
    "no client id": (
        {"jupyterhub": {"hub": {"config": {"ImagineOAuthenticator": {"client_id": ""}}}}},
        "jupyterhub.hub.config.ImagineOAuthenticator.client_id is required",
    ),
    "a rule in admin_groups": (
        {"jupyterhub": {"hub": {"config": {"ImagineOAuthenticator": {"admin_groups": ["kc:x"]}}}}},
        "ImagineOAuthenticator.admin_groups: \"kc:x\" is a rule; admin_groups keeps "
        "oauthenticator's meaning (exact hub group names): move it to admin_rules",
    ),
    "kc-role in capabilities": (
        {
            "jupyterhub": {
                "hub": {
                    "config": {
                        "ImagineOAuthenticator": {"capabilities": {"gpu": ["kc-role:gpu-user"]}}
                    }
                }
            }
        },
        '"kc-role:gpu-user" uses the retired kc-role: namespace; write kc-realm:<role>',
    ),
    "two cullers": (
        {"jupyterhub": {"cull": {"enabled": True}}},
        "jupyterhub.cull.enabled must be false",
    ),
    "no profiles": (
        {"jupyterhub": {"singleuser": {"profileList": []}}},
        "jupyterhub.singleuser.profileList is empty",
    ),
    "CVMFS without the volume": (
        {"imagine": {"cvmfs": {"enabled": True}}},
        "jupyterhub.singleuser.storage.extraVolumes has no volume of the PVC cvmfs",
    ),
    "CVMFS volume writable": (
        {
            "imagine": {"cvmfs": {"enabled": True}},
            "jupyterhub": {
                "singleuser": {
                    "storage": {
                        "extraVolumes": [
                            {"name": "sw", "persistentVolumeClaim": {"claimName": "cvmfs"}}
                        ]
                    }
                }
            },
        },
        "persistentVolumeClaim.readOnly: true",
    ),
    "CVMFS not mounted": (
        {
            "imagine": {"cvmfs": {"enabled": True}},
            "jupyterhub": {
                "singleuser": {
                    "storage": {
                        "extraVolumes": [
                            {
                                "name": "sw",
                                "persistentVolumeClaim": {"claimName": "cvmfs", "readOnly": True},
                            }
                        ]
                    }
                }
            },
        },
        "jupyterhub.singleuser.storage.extraVolumeMounts does not mount volume sw at /cvmfs",
    ),
    "CVMFS mounted without propagation": (
        {
            "imagine": {"cvmfs": {"enabled": True}},
            "jupyterhub": {
                "singleuser": {
                    "storage": {
                        "extraVolumes": [
                            {
                                "name": "sw",
                                "persistentVolumeClaim": {"claimName": "cvmfs", "readOnly": True},
                            }
                        ],
                        "extraVolumeMounts": [
                            {"name": "sw", "mountPath": "/cvmfs", "readOnly": True}
                        ],
                    }
                }
            },
        },
        "mountPropagation: HostToContainer",
    ),
}


@pytest.mark.parametrize("case", SCHEMA_CASES)
def test_schema_refuses_with_the_key_path(chart: Path, tmp_path: Path, case: str):
    extra, expected = SCHEMA_CASES[case]
    error = render_error(chart, write_values(tmp_path, with_required(**extra)))
    assert "values don't meet the specifications of the schema" in error
    for text in expected:
        assert text in error, error


@pytest.mark.parametrize("case", CHECK_CASES)
def test_checks_refuse_naming_the_value(chart: Path, tmp_path: Path, case: str):
    extra, expected = CHECK_CASES[case]
    error = render_error(chart, write_values(tmp_path, with_required(**extra)))
    assert expected in error, error
    assert "docs/helm.md" in error


def test_the_required_values_are_enough(chart: Path, tmp_path: Path):
    """The baseline of the cases above renders: each failure is due to its one change."""
    from tests.helm.chart import render

    assert render(chart, write_values(tmp_path, REQUIRED)).ours()


def test_list_form_extra_env_with_a_ref_is_accepted(chart: Path, tmp_path: Path):
    from tests.helm.chart import render

    values = with_required(
        jupyterhub={"hub": {"extraEnv": None}},
    )
    values["jupyterhub"]["hub"]["extraEnv"] = [
        {
            "name": "OAUTH_CLIENT_SECRET",
            "valueFrom": {"secretKeyRef": {"name": "imagine-hub", "key": "client-secret"}},
        }
    ]
    assert render(chart, write_values(tmp_path, values)).ours()
