package raftsm

// pruneVersions deletes the data versions below w.PruneBelow, one range
// deletion whatever their number.
func (a *applier) pruneVersions(w *SecretWrite) error {
	if w.PruneBelow <= 1 {
		return nil
	}
	lo := a.key(dataPrefix(w.ID)...)
	hi := a.key(append(dataPrefix(w.ID), u32(w.PruneBelow)...)...)
	return a.b.DeleteRange(lo, hi, nil)
}
