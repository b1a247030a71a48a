"""Getting audio into a workspace: local import (:mod:`.local`) and spotdl downloads (:mod:`.spotdl`)."""
