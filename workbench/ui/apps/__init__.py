"""The four dashboards as serve factories (one new object per session)."""
