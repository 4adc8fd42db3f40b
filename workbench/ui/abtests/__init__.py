"""The A/B screen: experiments, design, results per engine, bandits and decisions.

``ABTestModel`` (``model.py``) is the view-model; ``ABTestView`` (``view.py``) the view,
the same in ``panel serve`` and in JupyterLab (``wb.ui.ABTestView(res)``).
"""
