"""`core/` is the source folder of the `ml_actions` package, not a package of its own.

Without this file, `import core` from the repository root would quietly succeed as an empty
namespace package; with it, it fails and says what to import instead.
"""

raise ImportError("`core` is not a package: ml-actions is imported as `ml_actions` "
                  "(its source lives in core/ml_actions/)")
