"""The Deployments screen: variants, strategy state, live traffic charts and actions.

``DeploymentsModel`` (``model.py``) is the view-model (no Panel); ``DeploymentsView``
(``view.py``) the view, the same in ``panel serve`` and in JupyterLab
(``wb.ui.DeploymentsView(store)``).
"""
