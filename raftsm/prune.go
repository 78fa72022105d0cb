package raftsm

// pruneVersions deletes the data versions below w.PruneBelow: one range
// deletion of their pointers whatever their number, and the values they
// point at.
func (a *applier) pruneVersions(w *SecretWrite) error {
	if w.PruneBelow <= 1 {
		return nil
	}
	return a.deleteData(w.ID, w.PruneBelow)
}
