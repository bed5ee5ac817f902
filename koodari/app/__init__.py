"""The application layer: one function per user action, shared by every front end.

The command line, the web app, the demo, the spaCy components and ``bench/`` call these functions and
only render what they return; none of them builds core objects itself. A function takes plain arguments
(a study path, names, files), opens the study, calls the core and returns the core's typed result. Where a
front end keeps a study open (the web app, the demo), it may pass the open ``Study`` instead of a path.

One ``FinnishPipeline`` per configuration and process (``pipeline()``): its models load once, however many
actions use it. ``shared``: the pipeline, opening a study, the tree as of a time; ``study``: the study's
material, the tree, exports, the demo; ``model``: analysis, suggestions, evaluation, review, agreement.
See ARCHITECTURE.md for the layers and what each may import.
"""

from koodari.app.model import (
    Suggestions,
    agree,
    agreement_by_level,
    analyse,
    code_pairs,
    evaluate,
    group,
    lemmatise,
    review_session,
    search,
    suggest_file,
    suggest_texts,
    suggest_tokens,
    suggest_units,
    suggester,
    train,
    training_data,
)
from koodari.app.shared import LEVEL_NAMES, MODEL_KINDS, StudyRef, open_study, opened, pipeline, tree_as_of
from koodari.app.study import (
    DEMO_CORPUS,
    EXPORT_FORMATS,
    REFI_SUFFIXES,
    TREE_EDITS,
    Exported,
    TreeView,
    assign_question,
    build_demo_study,
    create_study,
    edit_tree,
    export_study,
    import_files,
    import_folder,
    import_reduction_file,
    import_refi_files,
    is_refi,
    rescue,
    tree,
    tree_history,
    units,
    units_without_question,
)

__all__ = [
    "DEMO_CORPUS", "EXPORT_FORMATS", "LEVEL_NAMES", "MODEL_KINDS", "REFI_SUFFIXES", "TREE_EDITS", "Exported",
    "StudyRef",
    "Suggestions", "TreeView", "agree", "agreement_by_level", "analyse", "assign_question", "build_demo_study",
    "code_pairs", "create_study", "edit_tree", "evaluate", "export_study", "group", "import_files", "import_folder",
    "import_reduction_file", "import_refi_files", "rescue", "is_refi", "lemmatise", "open_study", "opened", "pipeline",
    "review_session", "search", "suggest_file", "suggest_texts", "suggest_tokens", "suggest_units", "suggester",
    "train", "training_data", "tree", "tree_as_of", "tree_history", "units", "units_without_question",
]
