"""What several screens share: the ECharts component, the error banner, badges and formatting.

:mod:`.format` needs no Panel (view-models use it); :mod:`.widgets` and
:mod:`.echart` are Panel components (views use them).
"""
