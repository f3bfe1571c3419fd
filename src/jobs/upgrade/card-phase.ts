import type { CardState, PhaseStatus } from "../job-card.js";

/**
 * Set one phase of the card and leave the others as they are. The upgrade revisits phases (apply,
 * repair, PR for one group, then the next), which job-card's `setPhase` would read as "the
 * earlier phases are over". Pure.
 */
export function markPhase(state: CardState, name: string, status: PhaseStatus, detail?: string): CardState {
  return { ...state, phases: state.phases.map((p) => (p.name === name ? { name, status, ...(detail ? { detail } : {}) } : p)) };
}
