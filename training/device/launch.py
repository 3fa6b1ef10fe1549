"""Run a cellpoint module on the GPU machine, whose copy of the working tree lacks the build's
`_version.py` that `cellpoint/__init__.py` imports: the package is entered without its
__init__, which training never needs.

    python3 training/device/launch.py cellpoint.cap.train joint --out $OUT/joint ...
"""

import runpy
import sys
import types

package = types.ModuleType("cellpoint")
package.__path__ = ["python_stub/cellpoint"]
sys.modules["cellpoint"] = package
module, *args = sys.argv[1:]
sys.argv = [module, *args]
runpy.run_module(module, run_name="__main__")
