"""optlab's Hydra sweepers (Hydra finds plugins only under the hydra_plugins namespace). Kept to the class
definitions: Hydra imports every plugin module when it starts, so optuna and the logic load only when a sweep runs.
"""
