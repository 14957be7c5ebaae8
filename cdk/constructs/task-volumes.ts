import type * as ecs from 'aws-cdk-lib/aws-ecs';

/**
 * Task-local volumes (Fargate bind mounts on the task's ephemeral storage), writable by the container.
 * A path the image already has keeps its owner and mode: the image's `/work` belongs to the runner's
 * `node` user, and `/tmp` is writable by all.
 */
export function addScratchVolumes(
  task: ecs.TaskDefinition,
  container: ecs.ContainerDefinition,
  volumes: readonly { readonly name: string; readonly containerPath: string }[],
): void {
  for (const volume of volumes) {
    task.addVolume({ name: volume.name });
    container.addMountPoints({
      sourceVolume: volume.name,
      containerPath: volume.containerPath,
      readOnly: false,
    });
  }
}
