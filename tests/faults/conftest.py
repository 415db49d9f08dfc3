"""Fault tests that build the real window: the app's names and an isolated QSettings store."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_settings(qapp, tmp_path):
    """The application's names, with QSettings in a fresh temporary folder."""
    from PySide6.QtCore import QSettings

    from vae_explorer import ORG_DOMAIN, ORG_NAME

    qapp.setApplicationName("vae-explorer")
    qapp.setOrganizationName(ORG_NAME)
    qapp.setOrganizationDomain(ORG_DOMAIN)
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    QSettings().clear()
    return qapp
