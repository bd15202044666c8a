package reconcile

// CountsByLayer counts p's changes as Counts does, per layer; a layer
// without a change other than noop is left out.
func (p *Plan) CountsByLayer() map[Layer]Counts {
	by := map[Layer][]Change{}
	for _, c := range p.Changes {
		if c.Action != ActionNoop {
			by[c.Layer] = append(by[c.Layer], c)
		}
	}
	out := make(map[Layer]Counts, len(by))
	for l, cs := range by {
		out[l] = countChanges(cs)
	}
	return out
}
