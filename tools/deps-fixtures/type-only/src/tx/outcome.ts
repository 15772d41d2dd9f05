export interface Outcome {
  committed: boolean;
}
