"""The Python half of a native DAG: its tasks run in a compiled bundle.

The bundle's manifest must declare ``dags: {nightly_report: {tasks: [collect,
render]}}``, and the ``native`` queue must route to a coordinator whose
``executables_root`` holds it; ``afbundle check`` proves both before deploy.
"""

from airflow.sdk import dag, task


@dag(schedule="@daily", catchup=False)
def nightly_report():
    @task.stub(queue="native")
    def collect(): ...

    @task.stub(queue="native")
    def render(): ...

    collect() >> render()


nightly_report()
